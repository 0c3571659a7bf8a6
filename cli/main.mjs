// @ts-check
/**
 * The keygate CLI: a client of the management API of any keygate deployment. Builds the command
 * tree and maps every way a run can end to an exit code: 0 done, 1 refused by the API or not
 * reached, 2 a usage error (nothing was sent).
 */
import { Command, CommanderError } from "commander";
import { registerAlerts } from "./commands/alerts.mjs";
import { registerAudit } from "./commands/audit.mjs";
import { registerGovernance } from "./commands/governance.mjs";
import { registerKeys } from "./commands/keys.mjs";
import { registerLimitGroups } from "./commands/limit-groups.mjs";
import { registerSession } from "./commands/session.mjs";
import { registerUsage } from "./commands/usage.mjs";
import { registerWebhooks } from "./commands/webhooks.mjs";
import { addGlobalOptions, VERSION } from "./context.mjs";
import { ApiRefusal, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, NetworkError, UsageError } from "./errors.mjs";
import { palette, useColour } from "./output.mjs";

/** @returns {Command} */
export function buildProgram() {
  const program = new Command("keygate");
  // Settings made here are inherited by every command created below with .command().
  program
    .description("Manage keygate API keys, audit log, usage, alerts and webhooks from the command line.")
    .version(VERSION, "-V, --version")
    // Global options may come before the command (keygate --json keys list) or after it; the
    // command's own options are parsed by the command, so `webhooks create --url` stays its own.
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .configureOutput({
      outputError: (str, write) => write(`keygate: ${str.replace(/^error: /, "")}`),
    });
  addGlobalOptions(program);
  program.addHelpText(
    "after",
    `
Exit codes: 0 done, 1 refused by the API (its error_description on stderr) or keygate not reached,
2 usage error. Settings come from --url/--tenant/--token, then KEYGATE_URL/KEYGATE_TENANT/KEYGATE_TOKEN,
then \`keygate login\`.`,
  );

  registerSession(program);
  registerKeys(program);
  registerGovernance(program);
  registerAudit(program);
  registerUsage(program);
  registerAlerts(program);
  registerWebhooks(program);
  registerLimitGroups(program);

  // Every runnable command takes the global options after its name too.
  /** @param {Command} cmd */
  const addToLeaves = (cmd) => {
    for (const sub of cmd.commands) {
      if (sub.commands.length === 0) addGlobalOptions(sub);
      else addToLeaves(sub);
    }
  };
  addToLeaves(program);
  return program;
}

/**
 * Runs the CLI and resolves with its exit code.
 * @param {string[]} argv process.argv
 * @returns {Promise<number>}
 */
export async function main(argv) {
  const p = palette(useColour(process.stderr, process.env));
  /** @param {string} message */
  const report = (message) => process.stderr.write(`${p.red("keygate:")} ${message}\n`);
  try {
    await buildProgram().parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    // commander has already printed its message (or the help); --help and --version exit 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (err instanceof UsageError) {
      report(err.message);
      return EXIT_USAGE;
    }
    if (err instanceof ApiRefusal || err instanceof NetworkError) {
      report(err.message);
      return EXIT_REFUSED;
    }
    report(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT_REFUSED;
  }
}
