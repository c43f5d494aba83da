import type { BrowserWindow, Dialog } from 'electron';
import { describe, expect, it, vi } from 'vitest';
import { electronDialogs } from '../../src-main/app/dialogs.js';

function fakeDialog(open: { canceled: boolean; filePaths: string[] }, save: { canceled: boolean; filePath: string }) {
  return {
    showOpenDialog: vi.fn(async () => open),
    showSaveDialog: vi.fn(async () => save),
  };
}

function fakeShell() {
  return { showItemInFolder: vi.fn() };
}

describe('the native dialogs', () => {
  it('asks for a folder to open, attached to the window', async () => {
    const dialog = fakeDialog({ canceled: false, filePaths: ['/home/ana/Photos'] }, { canceled: true, filePath: '' });
    const window = {} as BrowserWindow;
    const dialogs = electronDialogs(dialog as unknown as Dialog, () => window, '/home/ana/Documents', fakeShell());
    expect(await dialogs.chooseFolder('open')).toBe('/home/ana/Photos');
    expect(dialog.showOpenDialog).toHaveBeenCalledWith(
      window,
      expect.objectContaining({ properties: ['openDirectory'] }),
    );
  });

  it('lets the user make an output folder and returns null when they cancel', async () => {
    const dialog = fakeDialog({ canceled: true, filePaths: [] }, { canceled: true, filePath: '' });
    const dialogs = electronDialogs(dialog as unknown as Dialog, () => null, '/docs', fakeShell());
    expect(await dialogs.chooseFolder('output')).toBeNull();
    expect(dialog.showOpenDialog).toHaveBeenCalledWith(
      expect.objectContaining({ properties: ['openDirectory', 'createDirectory'] }),
    );
  });

  it('offers only .mien files for models', async () => {
    const dialog = fakeDialog(
      { canceled: false, filePaths: ['/m/a.mien'] },
      { canceled: false, filePath: '/m/b.mien' },
    );
    const dialogs = electronDialogs(dialog as unknown as Dialog, () => null, '/docs', fakeShell());
    expect(await dialogs.chooseModelFile()).toBe('/m/a.mien');
    expect(dialog.showOpenDialog.mock.calls[0]?.at(-1)).toMatchObject({
      properties: ['openFile'],
      filters: [{ extensions: ['mien'] }],
    });
    expect(await dialogs.chooseModelExportFile('../../etc/smile.mien')).toBe('/m/b.mien');
    expect(dialog.showSaveDialog.mock.calls[0]?.at(-1)).toMatchObject({ defaultPath: '/docs/smile.mien' });
  });

  it("shows a file in the system's file manager", () => {
    const shell = fakeShell();
    const dialogs = electronDialogs(
      fakeDialog({ canceled: true, filePaths: [] }, { canceled: true, filePath: '' }),
      () => null,
      '/docs',
      shell,
    );
    dialogs.showInFolder('/home/ana/Edited/photo.jpg');
    expect(shell.showItemInFolder).toHaveBeenCalledWith('/home/ana/Edited/photo.jpg');
  });
});
