// English and Simplified Chinese strings; the choice is remembered in localStorage.
const en = {
  'app.title': 'OAS console', 'nav.vaults': 'Vaults', 'nav.server': 'Server', 'nav.signout': 'Sign out', 'nav.lang': '中文',
  'nav.lang.label': 'Switch language to Chinese',
  'signin.title': 'Sign in', 'signin.id': 'AccessKeyId', 'signin.secret': 'AccessKeySecret', 'signin.submit': 'Sign in',
  'signin.note': 'The key stays in this browser tab (sessionStorage) and signs every request here; it is never sent.',
  'signin.bad': 'The AccessKeyId or secret is wrong.', 'signin.busy': 'Checking…',
  'vaults.title': 'Vaults', 'vaults.name': 'Name', 'vaults.id': 'Vault id', 'vaults.archives': 'Archives', 'vaults.size': 'Size',
  'vaults.created': 'Created', 'vaults.inventory': 'Last inventory', 'vaults.create': 'Create vault', 'vaults.new': 'New vault name',
  'vaults.delete': 'Delete', 'vaults.confirmDelete': 'Delete vault {name}?', 'vaults.empty': 'No vaults yet.', 'vaults.deleted': 'Vault {name} deleted.',
  'vaults.created.ok': 'Vault {name} created.', 'common.refresh': 'Refresh', 'common.never': 'never', 'common.copy': 'Copy',
  'common.copied': 'Copied', 'common.loading': 'Loading…', 'common.cancel': 'Cancel', 'common.actions': 'Actions',
  'tab.archives': 'Archives', 'tab.upload': 'Upload', 'tab.jobs': 'Jobs', 'tab.multipart': 'Multipart uploads',
  'archives.search': 'Search archives', 'archives.id': 'Archive id', 'archives.desc': 'Description', 'archives.treeEtag': 'Tree etag',
  'archives.refresh': 'Refresh inventory', 'archives.from': 'From the inventory of {date}.', 'archives.none': 'No inventory yet: refresh it.',
  'archives.pending': 'Inventory job {id} is running…', 'archives.ready': 'Inventory ready.', 'archives.retrieve': 'Retrieve',
  'archives.deleteConfirm': 'Delete archive {id}?', 'archives.deleted': 'Archive deleted (the inventory shows it until its next refresh).',
  'archives.empty': 'The inventory lists no archives.', 'archives.sort': 'Sort by {col}',
  'upload.drop': 'Drop a file here, or choose one', 'upload.choose': 'Choose a file', 'upload.desc': 'Description (optional)',
  'upload.hashing': 'Hashing', 'upload.sending': 'Uploading', 'upload.done': 'Uploaded as archive {id}.', 'upload.cancelled': 'Upload cancelled; pick the same file again to resume.',
  'upload.resumable': 'Interrupted uploads', 'upload.resumeHint': 'Choose the same file again to resume: parts already on the server are checked and skipped.',
  'upload.discard': 'Discard', 'upload.resuming': 'Resuming upload {id}: {n} parts already uploaded.', 'upload.parts': '{done}/{total} parts',
  'upload.speed': '{speed}/s', 'upload.busy': '{name} is still uploading: wait for it or cancel it first.', 'upload.failed': 'Upload failed: {msg}',
  'jobs.status': 'Status', 'jobs.created': 'Created', 'jobs.completed': 'Completed', 'jobs.range': 'Range', 'jobs.typeRange': 'Type / range',
  'jobs.id': 'Job id', 'jobs.archive': 'Archive id', 'jobs.start': 'Start retrieval', 'jobs.rangeLabel': 'Byte range (optional, e.g. 0-1048575)',
  'jobs.download': 'Download', 'jobs.save': 'Save to disk…', 'jobs.saveShort': 'Save…', 'jobs.verified': 'Verified against tree etag {etag}.', 'jobs.save.link': 'Save {name}',
  'jobs.mismatch': 'The download does not match its tree etag; it was discarded.', 'jobs.downloading': 'Downloading', 'jobs.started': 'Job {id} started.',
  'jobs.empty': 'No jobs.', 'jobs.tooBig': 'Too large to keep in memory here ({size}); use "Save to disk…" (Chrome, Edge) or oascmd.',
  'multipart.id': 'Upload id', 'multipart.created': 'Created', 'multipart.partSize': 'Part size', 'multipart.desc': 'Description',
  'multipart.parts': 'Parts', 'multipart.abort': 'Abort', 'multipart.abortConfirm': 'Abort upload {id}? Its parts are deleted.',
  'multipart.empty': 'No open multipart uploads.', 'multipart.range': 'Range', 'multipart.showParts': 'Show parts', 'multipart.count': '{n} parts',
  'server.title': 'Server', 'server.health': 'Health', 'server.version': 'Version', 'server.uptime': 'Uptime',
  'server.requests': 'Requests per second', 'server.bytes': 'Bytes in / out per second', 'server.jobs': 'Jobs by state',
  'server.in': 'in', 'server.out': 'out', 'server.unavailable': 'unavailable',
  'error.VaultNotEmpty': 'The vault is not empty: delete its archives first.',
  'error.TooManyVaults': 'The vault limit of this account is reached.', 'error.VaultAlreadyExists': 'A vault with this name exists.',
  'error.InvalidVaultName': 'Invalid vault name.', 'error.RequestTimeTooSkewed': 'This computer\'s clock differs from the server\'s by more than the allowed skew (15 minutes by default).', 'error.NetworkError': 'The server cannot be reached.',
};

const zh: Record<keyof typeof en, string> = {
  'app.title': 'OAS 控制台', 'nav.vaults': '存储库', 'nav.server': '服务器', 'nav.signout': '退出', 'nav.lang': 'English',
  'nav.lang.label': '切换语言为英文',
  'signin.title': '登录', 'signin.id': 'AccessKeyId', 'signin.secret': 'AccessKeySecret', 'signin.submit': '登录',
  'signin.note': '密钥只保存在此浏览器标签页（sessionStorage）中，用于在本地签名请求，不会被发送。',
  'signin.bad': 'AccessKeyId 或密钥错误。', 'signin.busy': '正在验证…',
  'vaults.title': '存储库', 'vaults.name': '名称', 'vaults.id': '存储库 ID', 'vaults.archives': '档案数', 'vaults.size': '大小',
  'vaults.created': '创建时间', 'vaults.inventory': '最近清单', 'vaults.create': '创建存储库', 'vaults.new': '新存储库名称',
  'vaults.delete': '删除', 'vaults.confirmDelete': '删除存储库 {name}？', 'vaults.empty': '还没有存储库。', 'vaults.deleted': '存储库 {name} 已删除。',
  'vaults.created.ok': '存储库 {name} 已创建。', 'common.refresh': '刷新', 'common.never': '从未', 'common.copy': '复制',
  'common.copied': '已复制', 'common.loading': '加载中…', 'common.cancel': '取消', 'common.actions': '操作',
  'tab.archives': '档案', 'tab.upload': '上传', 'tab.jobs': '任务', 'tab.multipart': '分段上传',
  'archives.search': '搜索档案', 'archives.id': '档案 ID', 'archives.desc': '描述', 'archives.treeEtag': '树形校验码',
  'archives.refresh': '刷新清单', 'archives.from': '来自 {date} 的清单。', 'archives.none': '还没有清单：请刷新。',
  'archives.pending': '清单任务 {id} 正在运行…', 'archives.ready': '清单已就绪。', 'archives.retrieve': '提取',
  'archives.deleteConfirm': '删除档案 {id}？', 'archives.deleted': '档案已删除（下次刷新清单前仍会显示）。',
  'archives.empty': '清单中没有档案。', 'archives.sort': '按{col}排序',
  'upload.drop': '将文件拖放到此处，或选择文件', 'upload.choose': '选择文件', 'upload.desc': '描述（可选）',
  'upload.hashing': '计算校验码', 'upload.sending': '上传中', 'upload.done': '已上传为档案 {id}。', 'upload.cancelled': '上传已取消；再次选择同一文件即可续传。',
  'upload.resumable': '未完成的上传', 'upload.resumeHint': '再次选择同一文件即可续传：服务器上已有的分段会被校验并跳过。',
  'upload.discard': '放弃', 'upload.resuming': '续传 {id}：已上传 {n} 个分段。', 'upload.parts': '{done}/{total} 个分段',
  'upload.speed': '{speed}/秒', 'upload.busy': '{name} 仍在上传：请等待其完成或先取消。', 'upload.failed': '上传失败：{msg}',
  'jobs.status': '状态', 'jobs.created': '创建时间', 'jobs.completed': '完成时间', 'jobs.range': '范围', 'jobs.typeRange': '类型 / 范围',
  'jobs.id': '任务 ID', 'jobs.archive': '档案 ID', 'jobs.start': '开始提取', 'jobs.rangeLabel': '字节范围（可选，例如 0-1048575）',
  'jobs.download': '下载', 'jobs.save': '保存到磁盘…', 'jobs.saveShort': '保存…', 'jobs.verified': '已通过树形校验码 {etag} 验证。', 'jobs.save.link': '保存 {name}',
  'jobs.mismatch': '下载内容与树形校验码不符，已丢弃。', 'jobs.downloading': '下载中', 'jobs.started': '任务 {id} 已开始。',
  'jobs.empty': '没有任务。', 'jobs.tooBig': '数据过大（{size}），无法在此保存在内存中；请使用“保存到磁盘…”（Chrome、Edge）或 oascmd。',
  'multipart.id': '上传 ID', 'multipart.created': '创建时间', 'multipart.partSize': '分段大小', 'multipart.desc': '描述',
  'multipart.parts': '分段', 'multipart.abort': '中止', 'multipart.abortConfirm': '中止上传 {id}？其分段将被删除。',
  'multipart.empty': '没有进行中的分段上传。', 'multipart.range': '范围', 'multipart.showParts': '显示分段', 'multipart.count': '{n} 个分段',
  'server.title': '服务器', 'server.health': '健康状态', 'server.version': '版本', 'server.uptime': '运行时间',
  'server.requests': '每秒请求数', 'server.bytes': '每秒流入 / 流出字节', 'server.jobs': '各状态任务数',
  'server.in': '流入', 'server.out': '流出', 'server.unavailable': '不可用',
  'error.VaultNotEmpty': '存储库不为空：请先删除其中的档案。',
  'error.TooManyVaults': '此账号的存储库数量已达上限。', 'error.VaultAlreadyExists': '同名存储库已存在。',
  'error.InvalidVaultName': '存储库名称无效。', 'error.RequestTimeTooSkewed': '本机时钟与服务器时钟相差超过允许范围（默认 15 分钟）。', 'error.NetworkError': '无法连接服务器。',
};

export type Key = keyof typeof en;
export type Lang = 'en' | 'zh';
const TABLES: Record<Lang, Record<Key, string>> = { en, zh };
const STORE = 'oas-console.lang';

export let lang: Lang = (() => {
  const saved = localStorage.getItem(STORE);
  if (saved === 'en' || saved === 'zh') return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
})();

export function setLang(next: Lang): void {
  lang = next;
  localStorage.setItem(STORE, next);
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
}

export function t(key: Key, params: Record<string, string | number> = {}): string {
  return TABLES[lang][key].replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? ''));
}

/** The message for an error code when the console has a better one than the server's. */
export function errorText(code: string, fallback: string): string {
  const key = `error.${code}` as Key;
  return key in en ? `${t(key)} (${code})` : `${fallback} (${code})`;
}
