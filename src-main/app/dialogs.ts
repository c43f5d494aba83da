import path from 'node:path';
import type { BrowserWindow, Dialog, OpenDialogOptions, Shell } from 'electron';
import type { ShellDialogs } from '../services/app-services.js';

export const modelFileFilters = [{ name: 'Mien model', extensions: ['mien'] }];

/** Native dialogs, attached to the main window when there is one (sheets on macOS), and the file manager. */
export function electronDialogs(
  dialog: Pick<Dialog, 'showOpenDialog' | 'showSaveDialog'>,
  parentWindow: () => BrowserWindow | null,
  documentsDir: string,
  shell: Pick<Shell, 'showItemInFolder'>,
): ShellDialogs {
  const open = async (options: OpenDialogOptions): Promise<string | null> => {
    const parent = parentWindow();
    const result = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
    return result.canceled ? null : (result.filePaths[0] ?? null);
  };
  return {
    chooseFolder: (purpose) =>
      open({
        title: purpose === 'open' ? 'Open a folder of photos' : 'Choose where edited photos go',
        buttonLabel: purpose === 'open' ? 'Open' : 'Choose',
        properties: purpose === 'open' ? ['openDirectory'] : ['openDirectory', 'createDirectory'],
      }),
    chooseModelFile: () =>
      open({ title: 'Import a model', buttonLabel: 'Import', properties: ['openFile'], filters: modelFileFilters }),
    chooseModelExportFile: async (suggestedName) => {
      const options = {
        title: 'Export the model',
        // Only the name is taken from the suggestion; the folder is the user's documents until they pick another.
        defaultPath: path.join(documentsDir, path.basename(suggestedName)),
        filters: modelFileFilters,
      };
      const parent = parentWindow();
      const result = parent ? await dialog.showSaveDialog(parent, options) : await dialog.showSaveDialog(options);
      return result.canceled || !result.filePath ? null : result.filePath;
    },
    showInFolder: (file) => shell.showItemInFolder(file),
  };
}
