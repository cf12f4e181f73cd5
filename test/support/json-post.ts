// POST a JSON body and read the JSON answer: the one request shape the build tests repeat.
export interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
}

export async function postJson(url: string, body: unknown): Promise<JsonAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
