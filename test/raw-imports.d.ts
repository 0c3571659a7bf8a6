/** Vite's `?raw` imports: a file's text (tests compare published documents with the source). */
declare module "*?raw" {
  const text: string;
  export default text;
}
