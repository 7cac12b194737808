import { QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ReactNode } from "react";

import { ApiError } from "@/api/problem";
import { sessionQueryKey } from "@/features/auth/api/session";

export const queryClient: QueryClient = new QueryClient({
  queryCache: new QueryCache({
    // A session that ended elsewhere (signed out everywhere, expired): back to sign-in.
    onError: (error, query) => {
      if (error instanceof ApiError && error.status === 401 && query.queryKey[0] !== sessionQueryKey[0]) {
        queryClient.setQueryData(sessionQueryKey, null);
      }
    },
  }),
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      // A problem the server answered (4xx) will answer the same again.
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
    },
  },
});

export function AppProvider({ children }: { children: ReactNode }) {
  return <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>;
}
