// The wire between coordinator and workers (proto/emotrain.proto): what both sides import.
export * from './auth.js';
export * from './idle-limit.js';
export * from './messages.js';
export * from './payload.js';
export * from './service.js';
export * from './status.js';
