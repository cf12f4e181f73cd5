// The S3 client of the S3 BlobStore and small helpers around S3 errors and keys, kept apart from
// the store so the upload logic (s3-uploads.ts) and the store share one way of building requests.
// Nothing here logs or formats the secret key: errors name the endpoint, bucket and S3 error only.
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../config/schema.js';

/** S3's fixed multipart limits. */
export const MIN_PART = 5 * 1024 * 1024;
export const MAX_PART = 5 * 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** The largest object a single CopyObject may copy. */
export const MAX_COPY = MAX_PART;

export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    ...(config.accessKeyId && config.secretAccessKey
      ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
      : {}),
    // Since 3.729 the SDK adds CRC32 checksums to every upload and checks them on downloads; some
    // S3-compatible stores refuse the unknown headers, so only where an API demands one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

interface S3ErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** A 404 of an object or upload: NoSuchKey (GET), NotFound (HEAD), NoSuchUpload; not NoSuchBucket. */
export function isNotFound(err: unknown): boolean {
  const e = err as S3ErrorShape | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'NoSuchBucket' || e.Code === 'NoSuchBucket') return false;
  return (
    e.name === 'NoSuchKey' ||
    e.name === 'NotFound' ||
    e.Code === 'NoSuchKey' ||
    e.$metadata?.httpStatusCode === 404
  );
}

/** "NoSuchBucket (HTTP 404): The specified bucket does not exist", for error messages. */
export function describeS3Error(err: unknown): string {
  const e = err as S3ErrorShape | undefined;
  if (!e || typeof e !== 'object') return String(err);
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? e.Code ?? 'Error';
  // HEAD answers have no body, so the SDK's message is often just "UnknownError".
  const message = e.message && e.message !== name && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  return `${name}${status ? ` (HTTP ${status})` : ''}${message}`;
}

/** The x-amz-copy-source value of an object: bucket/key, the key URL-encoded per segment. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
