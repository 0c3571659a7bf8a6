// @ts-check
/**
 * The CLI's failures and their exit codes: 1 when the API (or the network) refused, 2 when the
 * command line itself is wrong and nothing was sent.
 */

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

/** The command line is wrong (bad value, missing setting); nothing was sent. Exit 2. */
export class UsageError extends Error {}

/** The API answered with an error body `{error, error_description}` (or no usable body). Exit 1. */
export class ApiRefusal extends Error {
  /**
   * @param {number} status
   * @param {string} code the API's `error`, or "" when the body had none
   * @param {string} description the API's `error_description`, or what the CLI could tell
   */
  constructor(status, code, description) {
    super(code === "" ? `${description} (HTTP ${status})` : `${description} (${code}, ${status})`);
    this.status = status;
    this.code = code;
  }
}

/** keygate could not be reached, or answered something that is not the API. Exit 1. */
export class NetworkError extends Error {}
