import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built into dist/web, which the server serves at `/` (src/ingress/http/cabinet.ts).
// `vite --config src/web/vite.config.ts` serves it for development, the API proxied to a running gateway.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: '../../dist/web', emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { proxy: { '/v1': process.env.DEPESHA_URL ?? 'http://127.0.0.1:8080' } },
});
