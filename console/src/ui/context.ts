import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { ApiClient } from "../lib/api";
import type { Session } from "../lib/session";

export interface AppContextValue {
  api: ApiClient;
  session: Session;
  /** Starts a new sign-in that returns to the current page. */
  signIn: () => void;
  /** Whether the signed-in user's role in `tenant` may call `operationId` (src/routes/table.ts): which controls to show. */
  can: (tenant: string, operationId: string) => boolean;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error("useApp outside the signed-in app");
  return value;
}
