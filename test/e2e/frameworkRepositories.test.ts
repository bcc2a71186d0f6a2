import { randomUUID } from 'node:crypto';
import { frameworkWorld, addRepositories } from '../helpers/framework';

/** Issue 3 on the real stack: backup repositories of each type through the API, and what is refused. */
describe('backup framework: repositories', () => {
  const w = frameworkWorld();
  const { zone, user, repo, refused, ok } = w;

  describe('repositories', () => {
    test('add, list, get and update repositories of each type', async () => {
      await addRepositories(w);
      expect(repo.local).toMatchObject({ name: 'local-1', zoneId: zone.nas.id, zone: zone.nas.name, type: 'local', mountOptions: '', capacityBytes: 10 * 2 ** 30 });

      const all = await ok('GET', `/v1/backup-repositories?zoneId=${zone.nas.id}`);
      expect(all.count).toBe(4);
      expect(all.items.map((x: any) => x.name)).toEqual(['ceph-1', 'cifs-1', 'local-1', 'nfs-1']);
      expect((await ok('GET', '/v1/backup-repositories?type=nfs')).items.map((x: any) => x.id)).toEqual([repo.nfs.id]);
      expect((await ok('GET', '/v1/backup-repositories?keyword=fileserver')).items.map((x: any) => x.id)).toEqual([repo.cifs.id]);
      const page2 = await ok('GET', `/v1/backup-repositories?zoneId=${zone.nas.id}&pageSize=3&page=2`);
      expect(page2).toMatchObject({ count: 4, page: 2 });
      expect(page2.items.map((x: any) => x.name)).toEqual(['nfs-1']);
      expect(await ok('GET', `/v1/backup-repositories/${repo.nfs.id}`)).toEqual(repo.nfs);

      const up = await ok('PATCH', `/v1/backup-repositories/${repo.nfs.id}`, { body: { mountOptions: 'vers=4.2,soft,retrans=3', capacityBytes: 2 ** 40 } });
      expect(up).toMatchObject({ mountOptions: 'vers=4.2,soft,retrans=3', capacityBytes: 2 ** 40, address: '10.0.0.5:/export/backups' });
      expect((await ok('PATCH', `/v1/backup-repositories/${repo.nfs.id}`, { body: { capacityBytes: null } })).capacityBytes).toBeNull();
    });

    test('refusals: mount options outside the allow-list, bad addresses, unknown zone, duplicate name, users', async () => {
      const base = { name: 'bad', zoneId: zone.nas.id, type: 'nfs', address: '10.0.0.5:/export' };
      const post = (body: object, field: string, message?: RegExp) =>
        refused('POST', '/v1/backup-repositories', { body: { ...base, ...body } }, 400, field, message);
      await post({ mountOptions: 'rw,exec' }, 'body.mountOptions', /exec is not allowed/);
      await post({ mountOptions: 'rw,suid' }, 'body.mountOptions', /suid/);
      await post({ mountOptions: 'dev' }, 'body.mountOptions');
      await post({ mountOptions: 'rw;reboot' }, 'body.mountOptions', /character ";"/);
      await post({ mountOptions: 'vers=4$(id)' }, 'body.mountOptions');
      await post({ mountOptions: 'rw,`touch /tmp/x`' }, 'body.mountOptions');
      await post({ mountOptions: 'rw|sh' }, 'body.mountOptions');
      await post({ mountOptions: 'rw exec' }, 'body.mountOptions');
      await post({ mountOptions: 'rw\nexec' }, 'body.mountOptions');
      await post({ mountOptions: 'helper=/bin/sh' }, 'body.mountOptions');
      await post({ mountOptions: 'password=hunter2' }, 'body.mountOptions', /credentials/);
      await post({ mountOptions: 'credentials=../../etc/shadow' }, 'body.mountOptions');
      await post({ mountOptions: 'vers=9' }, 'body.mountOptions');
      await post({ mountOptions: 'rw,,hard' }, 'body.mountOptions');
      await post({ mountOptions: 'bogus' }, 'body.mountOptions', /allow-list/);
      await post({ address: 'not-an-nfs-address' }, 'body.address');
      await post({ address: '-oexec:/export' }, 'body.address');
      await post({ address: '10.0.0.5:/export/../etc' }, 'body.address');
      await post({ type: 'cifs', address: '10.0.0.5:/export' }, 'body.address');
      await post({ type: 'cephfs', address: '//host/share' }, 'body.address');
      await post({ type: 'local', address: 'relative/dir' }, 'body.address');
      await post({ type: 'local', address: '/var/../etc' }, 'body.address');
      await post({ type: 'local', address: '/srv/backups', mountOptions: 'ro' }, 'body.mountOptions');
      await post({ type: 'glusterfs' }, 'body.type');
      await post({ capacityBytes: -1 }, 'body.capacityBytes');
      await post({ zoneId: randomUUID() }, 'body.zoneId');
      await post({ name: '' }, 'body.name');
      await refused('POST', '/v1/backup-repositories', { body: { ...base, name: 'nfs-1' } }, 409, 'body.name');
      await refused('POST', '/v1/backup-repositories', { key: user.alice.key, body: base }, 403, 'authorization');
      await refused('GET', '/v1/backup-repositories', { key: user.alice.key }, 403, 'authorization');
      await refused('PATCH', `/v1/backup-repositories/${repo.nfs.id}`, { body: { mountOptions: 'rw,exec' } }, 400, 'body.mountOptions');
      await refused('PATCH', `/v1/backup-repositories/${repo.nfs.id}`, { body: { address: '//host/share' } }, 400, 'body.address');
      await refused('PATCH', `/v1/backup-repositories/${repo.local.id}`, { body: { mountOptions: 'ro' } }, 400, 'body.mountOptions');
      await refused('PATCH', `/v1/backup-repositories/${repo.nfs.id}`, { body: { name: 'cifs-1' } }, 409, 'body.name');
      await refused('PATCH', `/v1/backup-repositories/${repo.nfs.id}`, { body: { type: 'cifs' } }, 400, 'body');
      await refused('PATCH', `/v1/backup-repositories/${repo.nfs.id}`, { body: {} }, 400, 'body');
      await refused('PATCH', `/v1/backup-repositories/${randomUUID()}`, { body: { name: 'x' } }, 404, 'id');
      await refused('DELETE', `/v1/backup-repositories/${randomUUID()}`, {}, 404, 'id');
    });
  });
});
