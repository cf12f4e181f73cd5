// Error answers from this server — the API's {error:{code,message}} and the registry's
// {errors:[…]} — as one ApiError with the status, the code and the server's message.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as {
      error?: { code?: string; message?: string };
      errors?: { code?: string; message?: string }[];
    };
    const e = body.error ?? body.errors?.[0];
    if (e?.message) return new ApiError(res.status, e.code ?? String(res.status), e.message);
  } catch {
    // not JSON: the text itself is the message
  }
  return new ApiError(res.status, String(res.status), text || `${res.status} ${res.statusText}`);
}
