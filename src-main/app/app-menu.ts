import type { MenuItemConstructorOptions } from 'electron';

/**
 * The application menu: Electron's default one, less its page-zoom items.
 * Their accelerators (Ctrl+0, Ctrl+Plus, Ctrl+Minus) would scale the whole
 * window; in Mien the same keys zoom the photo in the editor, as in other
 * photo editors.
 */
export function appMenuTemplate(platform: NodeJS.Platform): MenuItemConstructorOptions[] {
  const view: MenuItemConstructorOptions = {
    label: 'View',
    submenu: [{ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }, { role: 'togglefullscreen' }],
  };
  const menus: MenuItemConstructorOptions[] = [
    { role: 'fileMenu' },
    { role: 'editMenu' },
    view,
    { role: 'windowMenu' },
  ];
  return platform === 'darwin' ? [{ role: 'appMenu' }, ...menus] : menus;
}
