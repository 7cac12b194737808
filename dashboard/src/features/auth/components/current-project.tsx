// Which of the person's projects the dashboard shows: the one thing that is client state. Kept
// in localStorage so a reload stays in it; handed to the API client's middleware.
import { createContext, useContext, useState, type ReactNode } from "react";

import { setRequestContext, type ProjectMembership, type Session } from "@/api/client";

const STORAGE_KEY = "sbx.project";

interface CurrentProject {
  session: Session;
  project: ProjectMembership | null;
  setProjectId: (id: string) => void;
}

const Context = createContext<CurrentProject | null>(null);

function stored(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function CurrentProjectProvider({ session, children }: { session: Session; children: ReactNode }) {
  const [chosen, setChosen] = useState<string | null>(stored);
  const project =
    session.projects.find((p) => p.id === chosen) ?? session.projects[0] ?? null;
  // Set during render, before any child's query runs: the client must never send the
  // previous project's id with this project's query key.
  setRequestContext(session.csrf_token, project?.id ?? null);

  const setProjectId = (id: string) => {
    setChosen(id);
    try {
      localStorage.setItem(STORAGE_KEY, id);
    } catch {
      // Private mode: the choice lasts until reload.
    }
  };
  return <Context.Provider value={{ session, project, setProjectId }}>{children}</Context.Provider>;
}

export function useCurrentProject(): CurrentProject {
  const value = useContext(Context);
  if (!value) throw new Error("useCurrentProject outside CurrentProjectProvider");
  return value;
}
