import { spawnSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

/** Python's ipaddress module (standard library) as an oracle: the prefix as CIDR text, or NONE. */
const ORACLE = `
import ipaddress, sys
for line in sys.stdin.read().split("\\n")[:-1]:
    a, v4, v6 = line.split("\\t")
    try:
        ip = ipaddress.ip_address(a)
    except ValueError:
        print("NONE"); continue
    if ip.version == 6 and ip.ipv4_mapped: ip = ip.ipv4_mapped
    print(ipaddress.ip_network(f"{ip}/{v4 if ip.version == 4 else v6}", strict=False).compressed)
`;

/** The prefix of each address at its IPv4 / IPv6 lengths, as Python's ipaddress writes it ("NONE": no address). */
export function pythonPrefixes(cases: readonly (readonly [string, number, number])[]): string[] {
  const py = spawnSync(PYTHON, ['-c', ORACLE], { input: cases.map((c) => c.join('\t')).join('\n') + '\n', encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`python3 ipaddress oracle failed: ${py.stderr}`);
  const out = py.stdout.trimEnd().split('\n');
  if (out.length !== cases.length) throw new Error(`python3 ipaddress oracle gave ${out.length} lines for ${cases.length} addresses`);
  return out;
}
