import { XMLParser } from 'fast-xml-parser';
import { validationDomainXml } from '../../activities/host/lib/virt/validationDomain';

/** A production VM's domain XML with everything a validation VM must not share with it. */
const PRODUCTION = `<domain type='kvm'>
  <name>web-01</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <genid>aaaaaaaa-2222-3333-4444-555555555555</genid>
  <memory unit='MiB'>512</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type><nvram>/var/lib/libvirt/qemu/nvram/web-01_VARS.fd</nvram></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/var/lib/libvirt/images/web-01.raw'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/web-01-data.qcow2'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/isos/install.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='bridge'><mac address='52:54:00:12:34:56'/><source bridge='br0'/><model type='virtio'/></interface>
    <interface type='network'><source network='default'/></interface>
    <hostdev mode='subsystem' type='pci'><source><address domain='0x0' bus='0x3' slot='0x0' function='0x0'/></source></hostdev>
    <filesystem type='mount'><source dir='/srv/share'/><target dir='share'/></filesystem>
    <serial type='file'><source path='/var/log/web-01.serial'/><log file='/var/log/web-01.console' append='on'/><target port='0'/></serial>
    <console type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/><target type='serial' port='0'/></console>
    <channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/web-01.agent'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <graphics type='vnc' port='5901' autoport='no' listen='0.0.0.0' passwd='secret'/>
  </devices>
</domain>`;

const parse = (xml: string) =>
  new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => ['disk', 'interface', 'channel', 'serial', 'console', 'video', 'graphics'].includes(n) }).parse(xml).domain;

describe('the validation VM made from a backup\'s domain XML', () => {
  const overlays = { vda: '/var/lib/backflow/validation/bfval-b1/vda.qcow2', vdb: '/var/lib/backflow/validation/bfval-b1/vdb.qcow2' };
  const make = (needsDisplay: boolean, xml = PRODUCTION) =>
    parse(validationDomainXml({ xml, name: 'bfval-b1', uuid: '99999999-2222-3333-4444-555555555555', overlays, consoleLog: '/v/bfval-b1/console.log', needsDisplay }));

  test('a new identity, the overlays as qcow2 disks, the cdrom empty, no network, nothing of the host', () => {
    const d = make(true);
    expect([d.name, d.uuid]).toEqual(['bfval-b1', '99999999-2222-3333-4444-555555555555']);
    expect(d.genid).toBe('');
    expect(d.os.nvram).toBe('');
    expect(d.devices.disk.map((x: any) => [x.target.dev, x.device, x.driver?.type, x.source?.file ?? null])).toEqual([
      ['vda', 'disk', 'qcow2', overlays.vda], ['vdb', 'disk', 'qcow2', overlays.vdb], ['sda', 'cdrom', 'raw', null],
    ]);
    for (const gone of ['interface', 'hostdev', 'filesystem']) expect(d.devices[gone]).toBeUndefined();
    // Nothing points at the production VM's files, sockets or ports any more.
    const text = validationDomainXml({ xml: PRODUCTION, name: 'bfval-b1', uuid: '99999999-2222-3333-4444-555555555555', overlays, consoleLog: '/v/c.log', needsDisplay: false });
    for (const s of ['web-01', '52:54:00', 'br0', '4555', '5901', 'secret', '0.0.0.0', 'install.iso']) expect([s, text.includes(s)]).toEqual([s, false]);
  });

  test('the agent channel is kept with a socket libvirt picks; consoles are ptys, the serial one logged in the validation folder', () => {
    const d = make(false);
    expect(d.devices.channel).toEqual([{ type: 'unix', target: { type: 'virtio', name: 'org.qemu.guest_agent.0' } }]);
    expect(d.devices.serial).toEqual([{ type: 'pty', log: { file: '/v/bfval-b1/console.log', append: 'off' }, target: { port: '0' } }]);
    expect(d.devices.console).toEqual([{ type: 'pty', target: { type: 'serial', port: '0' } }]);
    const g = make(false).devices.graphics[0];
    expect([g.type, g.autoport, g.port, g.passwd]).toEqual(['vnc', 'yes', undefined, undefined]);
    expect(JSON.stringify(g.listen)).not.toContain('0.0.0.0');
  });

  test('a screenshot needs a display: a VGA one is added when the domain has none, kept when it has one', () => {
    expect(make(true).devices.video).toEqual([{ model: { type: 'vga' } }]);
    expect(make(false).devices.video).toBeUndefined();
    const withQxl = PRODUCTION.replace('</devices>', "<video><model type='qxl'/></video></devices>");
    expect(make(true, withQxl).devices.video).toEqual([{ model: { type: 'qxl' } }]);
  });
});
