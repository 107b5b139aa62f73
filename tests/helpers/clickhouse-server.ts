import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../../scripts/lib/process.js';
import { prerequisite } from './prerequisite.js';

/**
 * Debian's clickhouse-server package ships 18.16: far below the supported minimum, which is
 * exactly what these tests need, a real server the service must refuse with a clear reason.
 */
const found = [process.env.CLICKHOUSE_SERVER_BIN, '/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server'].find(
  (p): p is string => p !== undefined && existsSync(p),
);
export const BINARY = prerequisite(found !== undefined, 'a clickhouse-server binary', 'apt-get install clickhouse-server, or set CLICKHOUSE_SERVER_BIN')
  ? found
  : undefined;

export const USER = 'kpi';
export const PASSWORD = 'kpi-test-password';

export interface OldServer {
  url: string;
  stop(): Promise<void>;
}

export async function startClickHouseServer(binary: string): Promise<OldServer> {
  const dir = mkdtempSync(join(tmpdir(), 'kpi-chserver-'));
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas', 'log']) mkdirSync(join(dir, sub));
  const [httpPort, tcpPort] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
</yandex>
`,
  );
  writeFileSync(
    join(dir, 'users.xml'),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default/></profiles>
  <users>
    <${USER}>
      <password>${PASSWORD}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </${USER}>
  </users>
  <quotas><default/></quotas>
</yandex>
`,
  );
  const child: ChildProcess = spawn(binary, [`--config-file=${dir}/config.xml`], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${httpPort}`;
  try {
    await waitFor('clickhouse-server /ping', async () => {
      if (gone) throw new Error('exited');
      const r = await fetch(`${url}/ping`);
      return r.ok ? true : undefined;
    });
  } catch (e) {
    child.kill('SIGKILL');
    const log = existsSync(`${dir}/log/error.log`) ? readFileSync(`${dir}/log/error.log`, 'utf8').slice(-2000) : '(no error log)';
    throw new Error(`clickhouse-server did not start (${(e as Error).message}); its error log ends with:\n${log}`);
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

