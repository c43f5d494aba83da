import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where the built app's parts lie, from the folder that holds package.json (`app.getAppPath()`). */
export interface AppPaths {
  preload: string;
  rendererHtml: string;
  rendererUrl: string;
  /** the repository's resources/, used when running unpackaged */
  devResources: string;
}

export function appPaths(appRoot: string): AppPaths {
  const rendererHtml = path.join(appRoot, 'out', 'renderer', 'index.html');
  return {
    preload: path.join(appRoot, 'out', 'preload.cjs'),
    rendererHtml,
    rendererUrl: pathToFileURL(rendererHtml).href,
    devResources: path.join(appRoot, 'resources'),
  };
}
