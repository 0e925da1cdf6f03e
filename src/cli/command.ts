// A yargs command whose handler sees exactly the options its builder
// declares, under their camelCase names: an option the builder does not
// declare, or a misspelt one, is a compile error in the handler. (yargs 18
// ships no types for its main entry; @types/yargs 17 describes the API we
// use, which 18 did not change. Its handler type adds an index signature,
// `[name: string]: unknown`, under which any name type-checks: hence this.)

import type { Argv, CommandModule } from 'yargs'

type Camel<S extends string> = S extends `${infer H}-${infer R}` ? `${H}${Capitalize<Camel<R>>}` : S

/** The options `U` a builder declared, by their camelCase names only, as handlers read them. */
export type Parsed<U> = { [K in keyof U as K extends string ? Camel<K> : never]: U[K] }

export interface Command<U> {
  command: string
  describe: string
  builder: (y: Argv) => Argv<U>
  handler: (args: Parsed<U>) => void | Promise<void>
}

export function command<U>(c: Command<U>): CommandModule<object, U> {
  // yargs passes every declared option under its camelCase name too (camel-case-expansion, on by default).
  return { command: c.command, describe: c.describe, builder: c.builder, handler: args => c.handler(args as unknown as Parsed<U>) }
}
