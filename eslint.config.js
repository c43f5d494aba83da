import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** The one src-main module the renderer may import at run time: plain data, no imports of its own. */
const rendererData = 'src-main/contract/default-settings.ts';
/** how the renderer names it (imports end in .js) */
const rendererDataImport = '**/src-main/contract/default-settings.js';

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
    // may take the contract's types but never its runtime code. The one exception is the settings'
    // defaults, plain data shared with the services so that they are defined once.
    files: ['src-renderer/**/*.ts', 'src-renderer/**/*.svelte', 'test/renderer/**/*.ts'],
    ignores: ['src-renderer/vite.config.ts'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // Gitignore-style: a file cannot be let back in once its folder is matched, so these match
              // what lies in src-main's folders rather than the folders.
              group: ['**/src-main/*.*', '**/src-main/*/**', `!${rendererDataImport}`],
              allowTypeImports: true,
              message: 'import only types from src-main',
            },
          ],
        },
      ],
    },
  },
  {
    // What the renderer imports as data must stay data: anything it imported at run time would reach the page.
    files: [rendererData],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['*'], allowTypeImports: true, message: 'the renderer imports this module: types only' }],
        },
      ],
    },
  },
);
