// A route handler calling auth0.getAccessToken() (App Router form); `?refresh=1` forces the
// refresh-token grant. A route handler may set cookies, so a refreshed token set is saved in
// the session.
import { NextResponse } from "next/server";
import { auth0 } from "../../lib/auth0";

export const dynamic = "force-dynamic";

export async function GET(request) {
  const refresh = new URL(request.url).searchParams.get("refresh") === "1";
  try {
    const { token, expiresAt, scope, token_type } = await auth0.getAccessToken({ refresh });
    return NextResponse.json({ token, expiresAt, scope, token_type });
  } catch (e) {
    return NextResponse.json({ error: e.code ?? e.name, message: e.message, cause: e.cause?.message ?? null }, { status: 500 });
  }
}
