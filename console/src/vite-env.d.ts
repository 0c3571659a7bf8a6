// Side-effect CSS imports, bundled by Vite into the console's stylesheet.
declare module "*.css";
