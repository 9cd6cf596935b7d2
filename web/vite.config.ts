// Vite config for the fedpress dashboard.
//
// `npm run build` writes static files to dist/ with relative asset paths, so
// the C++ server (or any static server) can serve them at any prefix. In dev
// (`npm run dev`) and preview (`npm run preview`), /api (REST and the
// /api/events WebSocket) is proxied to the fedpress server named by
// FEDPRESS_API (default http://127.0.0.1:18181).
import { defineConfig } from 'vite';

const target = process.env.FEDPRESS_API ?? 'http://127.0.0.1:18181';
const proxy = { '/api': { target, ws: true, changeOrigin: false } };

export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 200,
  },
  server: { proxy, host: '127.0.0.1' },
  preview: { proxy, host: '127.0.0.1' },
});
