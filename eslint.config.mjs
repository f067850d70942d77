// Flat config: typescript-eslint's recommended rules plus the layer rules from docs/architecture.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (files, forbidden, message) => ({
  files,
  rules: {
    '@typescript-eslint/no-restricted-imports': ['error', {
      patterns: forbidden.map((group) => ({ group: [group], message })),
    }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.e2e/**', 'runs/**', 'demo/**', 'media/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', __dirname: 'readonly', require: 'readonly', module: 'writable', URL: 'readonly', performance: 'readonly', setImmediate: 'readonly', queueMicrotask: 'readonly', structuredClone: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  // The pure core and the protocol import neither vscode, tfjs, sharp nor any other layer.
  layer(['src/core/**/*.ts'], ['vscode', '@tensorflow/*', 'sharp', '**/engine/**', '**/worker/**', '**/cli/**', '**/extension/**'],
    'src/core is the pure layer: it may import only src/protocol.'),
  layer(['src/protocol/**/*.ts'], ['vscode', '@tensorflow/*', 'sharp', '**/core/**', '**/engine/**', '**/worker/**', '**/cli/**', '**/extension/**'],
    'src/protocol imports nothing of ours.'),
  layer(['src/engine/**/*.ts'], ['vscode', '**/worker/**', '**/cli/**', '**/extension/**'],
    'src/engine may import only core and protocol.'),
  layer(['src/extension/**/*.ts'], ['@tensorflow/*', 'sharp', '**/engine/**', '**/worker/**', '**/cli/**'],
    'The extension host never imports the engine: training runs in the worker process.'),
);
