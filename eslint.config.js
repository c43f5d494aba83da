import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'runs/', 'resources/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The core is plain Node: it must never reach for Electron, so it runs headless and under test.
    files: ['src-main/core/**/*.ts', 'src-main/cli/**/*.ts', 'src-main/worker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'electron', message: 'core, cli and worker code never imports electron' }] },
      ],
    },
  },
  ...svelte.configs.recommended,
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    // The renderer runs in a browser page: it reaches the main process only through the bridge, so it
    // may take the contract's types but never its runtime code.
    files: ['src-renderer/**/*.ts', 'src-renderer/**/*.svelte', 'test/renderer/**/*.ts'],
    ignores: ['src-renderer/vite.config.ts'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/src-main/**'], allowTypeImports: true, message: 'import only types from src-main' }],
        },
      ],
    },
  },
);
