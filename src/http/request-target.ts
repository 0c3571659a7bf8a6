/**
 * The parts of `request.url` the worker needs, by slicing the string the runtime already
 * normalized: cheaper than a URL object on every request, and the path and query stay byte for
 * byte what the client sent (a URL round trip could re-encode them).
 */
export interface RequestTarget {
  /** "http" or "https". */
  scheme: string;
  /** Host and port as the client addressed them. */
  host: string;
  /** The path, undecoded. */
  path: string;
  /** Path plus "?query" if any, undecoded. */
  pathAndQuery: string;
}

export function requestTarget(url: string): RequestTarget {
  const schemeEnd = url.indexOf("://");
  const hostStart = schemeEnd + 3;
  let pathStart = url.indexOf("/", hostStart);
  const queryAt = url.indexOf("?", hostStart);
  if (pathStart === -1 || (queryAt !== -1 && queryAt < pathStart)) pathStart = -1;
  const hostEnd = pathStart !== -1 ? pathStart : queryAt !== -1 ? queryAt : url.length;
  const hashAt = url.indexOf("#", hostEnd);
  const end = hashAt === -1 ? url.length : hashAt;
  const rest = pathStart === -1 ? `/${url.slice(hostEnd, end)}` : url.slice(pathStart, end);
  const q = rest.indexOf("?");
  return {
    scheme: url.slice(0, schemeEnd),
    host: url.slice(hostStart, hostEnd),
    path: q === -1 ? rest : rest.slice(0, q),
    pathAndQuery: rest,
  };
}
