// The nextjs-auth0 README's home page, plus the user's email.
import { auth0 } from "../lib/auth0";

export default async function Home() {
  const session = await auth0.getSession();

  if (!session) {
    return (
      <main>
        <a href="/auth/login?screen_hint=signup">Sign up</a>
        <a href="/auth/login">Log in</a>
      </main>
    );
  }

  return (
    <main>
      <h1>{`Welcome, ${session.user.name}!`}</h1>
      <p id="email">{session.user.email}</p>
    </main>
  );
}
