// The master's HTTP API (same origin). Errors carry the master's {"message"} when it sent one.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function request(path, options = {}) {
  const response = await fetch(path, { headers: { Accept: 'application/json' }, ...options });
  const text = await response.text();
  if (!response.ok) {
    let message = text || response.statusText;
    try {
      message = JSON.parse(text).message ?? message;
    } catch {
      // Not JSON: the text itself is the message.
    }
    throw new ApiError(response.status, `${path}: ${response.status} ${message}`);
  }
  return text;
}

export async function getJSON(path) {
  const text = await request(path);
  return text ? JSON.parse(text) : null;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
