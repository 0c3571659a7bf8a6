/**
 * Boot: read /console/config.json, finish a sign-in if this is the callback (the code and state
 * leave the address bar before anything else happens), restore the tab's session, render.
 */
import { render } from "preact";
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { App } from "./app";
import { ApiClient } from "./lib/api";
import { CALLBACK_PATH, type ConsoleConfig, completeSignIn } from "./lib/oidc";
import { navigate } from "./lib/router";
import { loadSession, type Session, saveSession } from "./lib/session";

async function boot() {
  const now = () => Math.floor(Date.now() / 1000);
  let config: ConsoleConfig | null = null;
  let configError: unknown = null;
  try {
    config = await new ApiClient({ token: () => null }).json<ConsoleConfig>("GET", "/console/config.json");
  } catch (err) {
    configError = err;
  }

  let signInError: unknown = null;
  let session: Session | null = null;
  if (location.pathname === CALLBACK_PATH) {
    const callbackUrl = location.href;
    // Nothing sensitive stays in the address bar or the history.
    history.replaceState(null, "", CALLBACK_PATH);
    if (config) {
      try {
        const result = await completeSignIn(config, sessionStorage, callbackUrl, now());
        saveSession(sessionStorage, result.session);
        session = result.session;
        navigate(result.returnTo, { replace: true });
      } catch (err) {
        signInError = err;
        navigate("/console/", { replace: true });
      }
    } else navigate("/console/", { replace: true });
  } else {
    session = loadSession(sessionStorage, now());
  }

  const root = document.getElementById("app");
  if (root) render(<App config={config} configError={configError} session={session} signInError={signInError} />, root);
}

void boot();
