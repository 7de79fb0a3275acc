import { useState } from 'preact/hooks';
import { ApiError, call, storeKey } from '../api.ts';

/** Asks for an API key, checks it with `GET /sessions?limit=1`, keeps it in sessionStorage. */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) return setError('Enter an API key.');
    setBusy(true);
    setError(null);
    try {
      await call('GET', '/sessions?limit=1', { key: trimmed });
      storeKey(trimmed);
      onSignedIn();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That key was refused (401 unauthorized).' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="signin">
      <form class="card" onSubmit={submit}>
        <h1>
          Baton <span>console</span>
        </h1>
        <p class="muted">Watch and steer your agent sessions.</p>
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autocomplete="off" autofocus value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
        <p class="hint">
          A key from <code>API_KEYS</code> shows that key's sessions; <code>ADMIN_KEY</code> shows every session. The key stays in this tab (sessionStorage) and is
          sent only as an <code>Authorization</code> header.
        </p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
