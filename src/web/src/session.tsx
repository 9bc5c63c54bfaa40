import { createContext, useContext } from 'react';
import type { Session } from './api.ts';

export const SessionContext = createContext<Session | null>(null);

/** The signed-in user's session (the app renders pages only once there is one). */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in page');
  return session;
}
