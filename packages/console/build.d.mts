export function buildConsole(outdir?: string): Promise<{ outdir: string; files: string[] }>;
