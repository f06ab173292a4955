/**
 * The store's shapes are the contract's run records (src-main/common/contract/records.ts): what the
 * store writes and reads is exactly what the front doors receive.
 */
export * from '../common/contract/records';
