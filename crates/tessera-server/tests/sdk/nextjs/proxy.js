// The nextjs-auth0 README's `proxy.ts` for Next.js 16: every request passes through the SDK,
// which serves /auth/* (login, callback, logout, profile, access-token) and rolls the session.
import { auth0 } from "./lib/auth0";

export async function proxy(request) {
  return await auth0.middleware(request);
}

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico|sitemap.xml|robots.txt).*)"],
};
