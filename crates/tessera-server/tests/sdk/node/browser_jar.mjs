// A browser without JavaScript for the SDK scripts: fetch with manual redirects and a cookie
// jar per host, so a test sees every hop of a login and the forms along the way.
export class Browser {
  constructor() {
    this.jar = new Map();
  }

  cookies(url) {
    const host = new URL(url).host;
    const jar = this.jar.get(host) ?? new Map();
    return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  remember(url, res) {
    const host = new URL(url).host;
    const jar = this.jar.get(host) ?? new Map();
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const at = pair.indexOf("=");
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v] = a.trim().split("=");
        if (k.toLowerCase() === "max-age") return Number(v) <= 0;
        if (k.toLowerCase() === "expires") return Date.parse(v) <= Date.now();
        return false;
      });
      if (expired || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    this.jar.set(host, jar);
  }

  async request(url, init = {}) {
    const headers = { ...(init.headers ?? {}), cookie: this.cookies(url) };
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    this.remember(url, res);
    return res;
  }

  get(url) {
    return this.request(url);
  }

  post(url, fields) {
    return this.request(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

/// The hidden fields of the first form in a page, and its action.
export function form(html) {
  const unescape = (s) =>
    s.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  const fields = {};
  for (const m of html.matchAll(/<input[^>]*name="([^"]*)"[^>]*value="([^"]*)"/g)) fields[m[1]] = unescape(m[2]);
  return { action: action && unescape(action), fields };
}

export function location(res, base) {
  const to = res.headers.get("location");
  if (!to) throw new Error(`no Location (status ${res.status})`);
  return new URL(to, base).toString();
}
