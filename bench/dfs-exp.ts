import { dfsSearch } from './dfs.ts';
const [name, axis, val, bound] = process.argv[2]!.split(':');
for (const red of (process.argv[3] ?? 'dpor').split(',')) {
  const f = await dfsSearch(name!, { [axis!]: val! }, Number(bound ?? 2), red as 'dpor', Number(process.argv[4] ?? 4000));
  console.log(name, val, red, JSON.stringify(f));
}
process.exit(0);
