export const ASSETS_DIR: string;
export function inputsHash(): string;
export function consoleBuildIsFresh(): boolean;
export function buildConsole(options?: { quiet?: boolean }): void;
export function ensureConsoleBuilt(options?: { quiet?: boolean }): boolean;
