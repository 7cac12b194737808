// RFC 9457 problems as the API answers them, and the one error type the UI shows.
import type { Schemas } from "./client";

export type Problem = Schemas["Problem"];

/** A failed API call: the problem the server gave, or one made up for a network failure. */
export class ApiError extends Error {
  readonly problem: Problem;
  /** Seconds from `Retry-After`, when the server sent it. */
  readonly retryAfterS: number | null;

  constructor(problem: Problem, retryAfterS: number | null = null) {
    super(problem.detail || problem.title);
    this.name = "ApiError";
    this.problem = problem;
    this.retryAfterS = retryAfterS;
  }

  get status() {
    return this.problem.status;
  }
  get code() {
    return this.problem.code;
  }
  get field() {
    return this.problem.field ?? null;
  }
}

function isProblem(x: unknown): x is Problem {
  return (
    typeof x === "object" && x !== null && "status" in x && "code" in x && "detail" in x
  );
}

/** The ApiError for a failed openapi-fetch call (`error` is the parsed body, if any). */
export function toApiError(error: unknown, response: Response): ApiError {
  const retry = response.headers.get("Retry-After");
  const retryAfterS = retry !== null && /^\d+$/.test(retry) ? Number(retry) : null;
  if (isProblem(error)) return new ApiError(error, retryAfterS);
  return new ApiError(
    {
      type: "about:blank",
      title: response.statusText || "Error",
      status: response.status,
      detail: `The server answered ${response.status} ${response.statusText}`.trim(),
      code: "http_error",
    },
    retryAfterS,
  );
}

/**
 * The data of an openapi-fetch result, or throws its ApiError: for query and mutation
 * functions, so TanStack Query sees failures as errors.
 */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok) return result.data as T;
  throw toApiError(result.error, result.response);
}

/** What to tell a person about any error. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) return e.problem.detail || e.problem.title;
  if (e instanceof TypeError) return "The server could not be reached. Check your connection.";
  return e instanceof Error ? e.message : String(e);
}
