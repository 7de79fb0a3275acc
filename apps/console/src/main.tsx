import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, forgetKey, storedKey } from './api.ts';
import { Health } from './views/health.tsx';
import { SignIn } from './views/sign-in.tsx';
import { SessionList } from './views/session-list.tsx';
import { SessionPage } from './views/session-page.tsx';
import { DeadLetters } from './views/dead-letters.tsx';
import './style.css';

type Route = { view: 'sessions' } | { view: 'session'; id: string } | { view: 'dead-letters' };

/** Hash routes: `#/sessions`, `#/sessions/<id>`, `#/dead-letters` (the server serves one page). */
function parseRoute(hash: string): Route {
  const session = /^#\/sessions\/([^/]+)$/.exec(hash);
  if (session) return { view: 'session', id: decodeURIComponent(session[1]!) };
  if (hash === '#/dead-letters') return { view: 'dead-letters' };
  return { view: 'sessions' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** `signed-in` with a key, `open` when the server has no API keys, `out` otherwise. */
type Auth = 'checking' | 'signed-in' | 'open' | 'out';

function App() {
  const route = useRoute();
  const [auth, setAuth] = useState<Auth>(() => (storedKey() ? 'signed-in' : 'checking'));

  useEffect(() => {
    if (auth !== 'checking') return;
    // No key stored: maybe the server needs none (no API_KEYS).
    call('GET', '/sessions?limit=1', { key: null }).then(
      () => setAuth('open'),
      (err: unknown) => setAuth(err instanceof ApiError && err.status === 401 ? 'out' : 'open'),
    );
  }, [auth]);

  const signOut = () => {
    forgetKey();
    setAuth('out');
  };
  // A refused key (rotated, or the server restarted with other keys) signs out.
  const onUnauthorized = () => {
    if (storedKey()) signOut();
  };

  if (auth === 'checking') return <div class="loading">Loading…</div>;
  if (auth === 'out') return <SignIn onSignedIn={() => setAuth('signed-in')} />;

  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="#/sessions">
          Baton <span>console</span>
        </a>
        <nav>
          <a href="#/sessions" class={route.view !== 'dead-letters' ? 'active' : ''}>
            Sessions
          </a>
          <a href="#/dead-letters" class={route.view === 'dead-letters' ? 'active' : ''}>
            Dead letters
          </a>
        </nav>
        <Health />
        {auth === 'signed-in' ? (
          <button class="link" onClick={signOut} data-testid="sign-out">
            Sign out
          </button>
        ) : (
          <span class="muted small" title="The server has no API_KEYS: every request is allowed">
            Auth off
          </span>
        )}
      </header>
      <main>
        {route.view === 'sessions' && <SessionList onUnauthorized={onUnauthorized} />}
        {route.view === 'session' && <SessionPage key={route.id} id={route.id} onUnauthorized={onUnauthorized} />}
        {route.view === 'dead-letters' && <DeadLetters onUnauthorized={onUnauthorized} />}
      </main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
