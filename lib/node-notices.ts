// Drover supports Node 20 (what the operators' hosts ship); the AWS SDK's notice about its future Node 22 floor
// would otherwise be printed by every command. Imported first by the CLI and the workers.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
export {};
