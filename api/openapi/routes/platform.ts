import { z } from 'zod';
import { routesOf } from '../registry';
import { Pagination, IdParams } from '../../validate';
import { CreateAccountSchema, CreateDomainSchema, CreateKeySchema, KeyParams, UpdateAccountSchema } from '../../../common/schemas/accounts';
import { AnyObject, listOf } from '../responses';

/** Health and this document (no key; its page, GET /docs, is static files), and tenancy: the caller, domains, accounts, keys. */
export const platformRoutes = routesOf('platform', [
  { method: 'get', path: '/health', operationId: 'getHealth', access: 'public', summary: 'PostgreSQL, Temporal, the control worker and each host worker (503 when anything is down)', response: AnyObject },
  { method: 'get', path: '/metrics', operationId: 'getMetrics', access: 'public', summary: 'Prometheus metrics of the API (catalog counts, request timings); each worker serves its own (README, Monitoring)', contentType: 'text/plain; version=0.0.4', response: z.string() },
  { method: 'get', path: '/openapi.json', operationId: 'getOpenApi', access: 'public', summary: 'This document (OpenAPI 3.1)', response: AnyObject },
]);

export const accountRoutes = routesOf('accounts', [
  { method: 'get', path: '/v1/me', operationId: 'getMe', access: 'any', summary: "The caller's account", response: AnyObject },
  { method: 'get', path: '/v1/domains', operationId: 'listDomains', command: 'listDomains', access: 'admin', summary: 'Domains', query: Pagination, response: listOf(AnyObject) },
  { method: 'post', path: '/v1/domains', operationId: 'createDomain', command: 'createDomain', access: 'admin', summary: 'Create a domain', body: CreateDomainSchema, status: 201, response: AnyObject },
  { method: 'get', path: '/v1/accounts', operationId: 'listAccounts', command: 'listAccounts', access: 'admin', summary: 'Accounts', query: Pagination, response: listOf(AnyObject) },
  { method: 'post', path: '/v1/accounts', operationId: 'createAccount', command: 'createAccount', access: 'admin', summary: 'Create an account', body: CreateAccountSchema, status: 201, response: AnyObject },
  { method: 'patch', path: '/v1/accounts/:id', operationId: 'updateAccount', command: 'disableAccount', access: 'admin', summary: 'Disable or enable an account (its keys get 401 at once)', params: IdParams, body: UpdateAccountSchema, response: AnyObject },
  { method: 'get', path: '/v1/accounts/:id/keys', operationId: 'listKeys', access: 'admin', summary: "An account's API keys (ids and labels, never the keys)", params: IdParams, response: listOf(AnyObject) },
  { method: 'post', path: '/v1/accounts/:id/keys', operationId: 'createKey', command: 'registerUserKeys', access: 'admin', summary: 'Issue an API key (shown in this answer only)', params: IdParams, body: CreateKeySchema, status: 201, response: AnyObject },
  { method: 'delete', path: '/v1/accounts/:id/keys/:keyId', operationId: 'revokeKey', access: 'admin', summary: 'Revoke a key: 401 from its next request', params: KeyParams, response: AnyObject },
]);
