/**
 * `import { ShoalClient } from 'shoal/client'`: the typed client of a shoal
 * daemon, and the types of the method table it is typed from.
 */
export { ShoalClient } from './client.ts'
export type { Body, CallArgs, CallOptions, Download, DownloadOptions, QueryInput, Subscription, UploadOptions, UploadResult } from './client.ts'
export { locateDaemon } from './locate.ts'
export type { DaemonEndpoint } from './locate.ts'
export type { MethodName, MethodProgressOf, NotificationOf, ParamsOf, ProgressEventOf, ProgressMethod, ResultOf, SubscriptionMethod } from '../rpc/api.ts'
export { AbortedError, DaemonUnreachableError, RpcError, RpcHttpError, ShoalError } from '../errors.ts'
