/**
 * Named errors. Every error a user can cause (a bad file, a bad config) is a TopiaryError with a
 * message that says which file or field and what was expected. Front doors map `exitCode`:
 * 2 = bad usage or bad input, 1 = the work itself failed.
 */
export class TopiaryError extends Error {
  /** Exit code for the CLI: 2 bad input/usage, 1 the work failed. */
  readonly exitCode: 1 | 2 = 1;
  /** The file the problem is in, when there is one. */
  readonly file?: string;

  constructor(message: string, options?: { file?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options?.file !== undefined) this.file = options.file;
  }
}

/** A config or argument is invalid: `ConfigError: sparsity must be in [0, 1), got 1.2`. */
export class ConfigError extends TopiaryError {
  override readonly exitCode = 2 as const;
}

/** A model file or folder cannot be read as a model (malformed JSON, missing shard, ...). */
export class ModelFormatError extends TopiaryError {
  override readonly exitCode = 2 as const;
}

/** A dataset file cannot be read (wrong magic number, truncated, labels out of range, ...). */
export class DatasetFormatError extends TopiaryError {
  override readonly exitCode = 2 as const;
}

/** A layer or op that an operation cannot handle; names the layer and why. */
export class UnsupportedLayerError extends TopiaryError {
  override readonly exitCode = 2 as const;
}

/**
 * The pruning asked for cannot remove anything from this model (every channel group is fixed, no
 * weight is prunable); known before any training, and retrying will not help: bad input.
 */
export class NothingToPruneError extends TopiaryError {
  override readonly exitCode = 2 as const;
}

/** A pruning run ended far short of its target (under half of it): the work failed. */
export class PruneShortfallError extends TopiaryError {}

/**
 * Training diverged (a NaN or exploding loss) or a model's numbers stopped being finite: the run
 * failed, and its numbers must not be recorded as a result.
 */
export class DivergenceError extends TopiaryError {}

/** Work was cancelled by the user. */
export class CancelledError extends TopiaryError {
  constructor(message = 'cancelled') {
    super(message);
  }
}

/** An exported artifact failed verification against a real runtime. */
export class VerificationError extends TopiaryError {}

/** Prefix a message with the file it concerns, the way every reader reports problems. */
export function inFile(file: string, problem: string): string {
  return `${file}: ${problem}`;
}

/** Serializable form of an error, for crossing worker and IPC boundaries. */
export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
  file?: string;
  exitCode?: 1 | 2;
}

export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof TopiaryError) {
    return { name: err.name, message: err.message, stack: err.stack, file: err.file, exitCode: err.exitCode };
  }
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

/**
 * A run failed in one of its phases (load, baseline, sensitivity, prune, finetune, final, export,
 * verify). The message names the phase and where in it ("fine-tuning failed (epoch 1, batch 3): ...")
 * and, when the cause is recognized, a remedy. It keeps the cause's name, exit code and file, so a
 * bad dataset found late is still bad input (exit 2) and still a DatasetFormatError.
 */
export class RunPhaseError extends TopiaryError {
  override readonly exitCode: 1 | 2;
  readonly phase: string;

  constructor(phase: string, message: string, cause: unknown) {
    super(message, { cause, ...(cause instanceof TopiaryError && cause.file !== undefined ? { file: cause.file } : {}) });
    this.phase = phase;
    this.exitCode = cause instanceof TopiaryError ? cause.exitCode : 1;
    if (cause instanceof Error) this.name = cause.name;
  }
}

/**
 * An error that arrived from another thread or process as ErrorInfo, for a class this side has no
 * constructor for (a store error, RangeError...): it keeps the name, message, file and exit code.
 */
export class RemoteError extends TopiaryError {
  override readonly exitCode: 1 | 2;

  constructor(info: ErrorInfo & { exitCode: 1 | 2 }) {
    super(info.message, info.file === undefined ? undefined : { file: info.file });
    this.name = info.name;
    this.exitCode = info.exitCode;
  }
}

const NAMED_ERRORS: Record<string, new (message: string, options?: { file?: string }) => TopiaryError> = {
  TopiaryError,
  ConfigError,
  ModelFormatError,
  DatasetFormatError,
  UnsupportedLayerError,
  NothingToPruneError,
  PruneShortfallError,
  CancelledError,
  VerificationError,
};

/**
 * The inverse of toErrorInfo: an Error that reads as the one thrown on the other side. Named errors
 * come back as their class (`instanceof ConfigError` holds), others keep name, message and exit
 * code; the stack is the original's, where the work failed.
 */
export function fromErrorInfo(info: ErrorInfo): Error {
  const Named = Object.prototype.hasOwnProperty.call(NAMED_ERRORS, info.name) ? NAMED_ERRORS[info.name] : undefined;
  let err: Error;
  if (Named) {
    err = new Named(info.message, info.file === undefined ? undefined : { file: info.file });
    if ((err as TopiaryError).exitCode !== (info.exitCode ?? (err as TopiaryError).exitCode)) err = new RemoteError({ ...info, exitCode: info.exitCode! });
  } else if (info.exitCode !== undefined) {
    err = new RemoteError({ ...info, exitCode: info.exitCode });
  } else {
    err = new Error(info.message);
    err.name = info.name;
  }
  if (info.stack) err.stack = info.stack;
  return err;
}

/** What describeIssues reads of a schema issue (zod's issues have this shape). */
export interface SchemaIssue {
  path: readonly PropertyKey[];
  message: string;
  /** `whole`: the message already names its fields. */
  params?: { whole?: boolean };
}

/**
 * A schema's issues as one line, each naming its field. Rules written for Topiary (the prune
 * config's) read as a sentence after the field (`prune.sparsity must be in [0, 1), got 1.2`) or are
 * already whole sentences; zod's own messages follow the field after a colon (`runIds: Too small`).
 */
export function describeIssues(issues: readonly SchemaIssue[], root: string): string {
  return issues
    .map((i) => {
      if (i.params?.whole) return i.message;
      const where = i.path.map(String).join('.') || root;
      return i.message.startsWith('must ') ? `${where} ${i.message}` : `${where}: ${i.message}`;
    })
    .join('; ');
}
