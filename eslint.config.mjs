// ESLint over src/: the layering of ARCHITECTURE.md (each folder imports only the folders below
// it, and the pure layers no editor API), promises that are never left floating, expressions
// that do something, and no branching on the architecture outside src/kernel/arch.
// test/unit/layers.test.ts checks the layering as well, without ESLint.
import tseslint from 'typescript-eslint';

/** Folders under src/ and the folders each may import from (itself always). */
export const LAYERS = {
  kernel: [],
  oops: [],
  gdb: [],
  kgdb: [],
  dump: ['kernel', 'oops'],
  rsp: ['kernel', 'gdb', 'kgdb', 'dump'],
  engine: ['kernel', 'oops', 'gdb', 'kgdb', 'dump', 'rsp'],
  adapter: ['engine', 'kernel', 'oops', 'gdb', 'kgdb'],
  cli: ['engine', 'kernel', 'oops'],
  server: ['oops'],
  extension: ['adapter', 'engine', 'kernel', 'oops', 'server'],
};

/** Editor and protocol packages: only the front ends that speak them may import them. */
export const EDITOR_PACKAGES = {
  adapter: ['vscode', 'vscode-languageserver', 'vscode-languageserver/*', 'vscode-languageclient', 'vscode-languageclient/*'],
  server: ['vscode', '@vscode/debugadapter', '@vscode/debugprotocol', 'vscode-languageclient', 'vscode-languageclient/*'],
  extension: ['@vscode/debugadapter', 'vscode-languageserver', 'vscode-languageserver/*'],
};
export const ALL_EDITOR = ['vscode', '@vscode/debugadapter', '@vscode/debugprotocol', 'vscode-languageserver', 'vscode-languageserver/*', 'vscode-languageserver-textdocument', 'vscode-languageclient', 'vscode-languageclient/*'];

function layerRules(folder) {
  const forbidden = Object.keys(LAYERS).filter((f) => f !== folder && !LAYERS[folder].includes(f));
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: (EDITOR_PACKAGES[folder] ?? ALL_EDITOR).map((name) => ({ name, message: `src/${folder} does not use this editor API (ARCHITECTURE.md, layers).` })),
          patterns: [
            {
              // Out of this folder and into another top folder of src/: `../engine/x`, `../../kernel`.
              regex: `^(\\.\\./)+(${forbidden.join('|')})(/|$)`,
              message: `src/${folder} imports only ${LAYERS[folder].length ? LAYERS[folder].join(', ') : 'itself'} (ARCHITECTURE.md, layers).`,
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**'] },
  {
    files: ['src/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-expressions': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      'no-var': 'error',
      'prefer-const': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-throw-literal': 'error',
      '@typescript-eslint/no-require-imports': 'error',
    },
  },
  ...Object.keys(LAYERS).map(layerRules),
  {
    // Architecture differences live in ArchOps (src/kernel/arch); elsewhere nothing compares an arch name.
    files: ['src/kernel/**/*.ts', 'src/engine/**/*.ts', 'src/adapter/**/*.ts', 'src/cli/**/*.ts', 'src/gdb/**/*.ts', 'src/kgdb/**/*.ts'],
    ignores: ['src/kernel/arch/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "BinaryExpression[operator=/^[!=]==?$/][right.type='Literal'][left.property.name='arch'], BinaryExpression[operator=/^[!=]==?$/][right.type='Literal'][left.name='arch']",
          message: 'Ask ArchOps (src/kernel/arch) instead of comparing the arch name.',
        },
      ],
    },
  },
);
