/**
 * What each command takes and does, in one line: the top-level `--help`
 * lists it, and `<command> --help` opens with it (cli/args.ts). A command
 * missing here still parses; its help just has no summary.
 */
export interface CommandAbout {
  /** The positional arguments, as the usage line shows them. */
  readonly args?: string;
  readonly summary: string;
}

export const COMMAND_ABOUT: Readonly<Record<string, CommandAbout>> = {
  list: { summary: 'the built-in scenarios with their variant axes' },
  show: { args: '<scenario>', summary: 'the scenario as a JSON document that run and compare take back (a start for your own)' },
  ops: { summary: 'the operation vocabulary of scenario documents, with each op\'s fields' },
  functions: { summary: 'every patchable kernel function of the model: actor, kernel file:function, locks it takes, functions it calls' },
  run: { args: '<scenario>', summary: 'explore one scenario under one variant assignment; write a replay per finding' },
  compare: { args: '(<scenario> | --all)', summary: 'run every variant assignment and print the variant table' },
  replay: { args: '<replay.json>', summary: 'run a replay file once and say whether it hits the recorded finding' },
  report: { args: '<replay.json|trace.json>', summary: 're-run a replay with the full trace and render it (text, Perfetto, DOT, Markdown, trace)' },
  shrink: { args: '<replay.json>', summary: 'fewer ops and context switches for a replay\'s finding; writes a replay that reproduces it' },
  selftest: { args: 'locking', summary: 'the kernel\'s locking-selftest matrix run through our checkers' },
  conformance: { summary: 'the IOMMU unit conformance suite, for a built-in unit or a plug-in module' },
  stress: { summary: 'real concurrency with churn on a generated machine' },
  bench: { summary: 'the benchmarks (speed and memory), with their ratios' },
  fuzz: { summary: 'a campaign of generated workloads; new findings written under --out' },
  merge: { args: '<dir>...', summary: 'one campaign output from several shards\' outputs' },
  schema: { args: '[scenario|replay|trace]', summary: 'the JSON Schema of a document kind, for editors (docs/scenarios.md)' },
};
