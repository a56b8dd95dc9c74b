// Builds the Svelte widgets into ../static/dist with a manifest that django-vite reads.
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { resolve } from "node:path";
import { readdirSync } from "node:fs";

const entries = Object.fromEntries(
  readdirSync(resolve(import.meta.dirname, "src/entries"))
    .filter((name) => name.endsWith(".js"))
    .map((name) => [name.replace(/\.js$/, ""), resolve(import.meta.dirname, "src/entries", name)]),
);

export default defineConfig({
  plugins: [svelte()],
  base: "/static/dist/",
  server: { port: 5173, strictPort: true, origin: "http://127.0.0.1:5173" },
  build: {
    outDir: resolve(import.meta.dirname, "../static/dist"),
    emptyOutDir: true,
    manifest: "manifest.json",
    rollupOptions: {
      input: entries,
      // The code the entries share (Svelte's runtime, src/lib) in one chunk, not one per module:
      // every file is one more request before a page's first paint.
      output: {
        manualChunks: (id) => (id.includes("/node_modules/svelte/") || id.includes("/src/lib/") ? "common" : undefined),
      },
    },
  },
});
