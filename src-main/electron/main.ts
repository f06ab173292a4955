/**
 * Electron main process (thin): one locked-down window, IPC to the app services, native dialogs,
 * the app menu and remembered window state. No business logic lives here.
 *
 * Hardening that does not depend on a window is set up before anything loads: the app:// scheme
 * (the renderer's only origin), a guard on every web contents Electron creates, and session
 * handlers that refuse every permission request and check. The packaged binary's fuses (no
 * ELECTRON_RUN_AS_NODE, NODE_OPTIONS or --inspect, app code only from the integrity-checked asar)
 * are flipped by electron-builder (electron-builder.yml, electronFuses).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, Menu, protocol, session, shell } from 'electron';
import { DialogRequestSchema, IPC_DIALOG, IPC_EVENT, IPC_INVOKE } from '../common/contract';
import { createApi } from '../app/api';
import { GpuPeers } from '../app/gpu-peers';
import { settingsGpuRoutes } from '../app/gpu-routes';
import { SettingsService } from '../app/settings-service';
import { gpuApiHandler, gpuWindowOptions, gpuWindowUrl } from './gpu-window';
import {
  APP_INDEX_URL,
  APP_ORIGIN,
  APP_SCHEME,
  APP_SCHEME_PRIVILEGES,
  CONTENT_SECURITY_POLICY,
  appProtocolHandler,
  guardWebContents,
  handleInvoke,
  isTrustedUrl,
  mainWindowOptions,
} from './security';

// The built app: resources and the workers live beside dist-electron/. Everything that loads tfjs
// or the native addon runs in one of those workers; this process only holds the store and windows.
process.env.TOPIARY_APP_ROOT ??= path.join(__dirname, '..');
process.env.TOPIARY_RESOURCES ??= path.join(__dirname, '..', 'resources');
process.env.TOPIARY_RUN_JOB_ENTRY ??= pathToFileURL(path.join(__dirname, 'run-job.cjs')).href;
process.env.TOPIARY_FIT_JOB_ENTRY ??= pathToFileURL(path.join(__dirname, 'fit-job.cjs')).href;
process.env.TOPIARY_ENGINE_JOB_ENTRY ??= pathToFileURL(path.join(__dirname, 'engine-job.cjs')).href;
process.env.TOPIARY_TRAIN_WORKER_ENTRY ??= pathToFileURL(path.join(__dirname, 'train-worker.cjs')).href;

const rendererRoot = path.join(__dirname, '..', 'dist-renderer');
const appIndexUrl = APP_INDEX_URL;

// Both must happen before 'ready': privileged schemes are fixed at startup, and the guard must see
// the first web contents too.
protocol.registerSchemesAsPrivileged(APP_SCHEME_PRIVILEGES);
app.on('web-contents-created', (_event, contents) => guardWebContents(contents));
const stateFile = () => path.join(app.getPath('userData'), 'window-state.json');

function readWindowState(): { x?: number; y?: number; width: number; height: number } | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(stateFile(), 'utf8'));
    if (typeof s.width === 'number' && typeof s.height === 'number') return s;
  } catch {
    // first start, or an unreadable file: use defaults
  }
  return undefined;
}

async function start() {
  await app.whenReady();
  process.env.TOPIARY_HOME ??= app.getPath('userData');
  // GPU windows train runs (app/gpu-peers.ts): the hidden one below, through app://topiary/api/gpu/*.
  const gpuPeers = new GpuPeers();
  const settings = new SettingsService(process.env.TOPIARY_HOME);
  const gpuToken = randomBytes(24).toString('base64url');
  protocol.handle(APP_SCHEME, appProtocolHandler(rendererRoot, gpuApiHandler(settingsGpuRoutes(gpuPeers, settings), gpuToken)));
  const api = await createApi({ home: process.env.TOPIARY_HOME, gpuPeers });

  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  session.defaultSession.setDevicePermissionHandler(() => false);

  const win = new BrowserWindow(mainWindowOptions(path.join(__dirname, 'preload.cjs'), readWindowState()));
  win.once('ready-to-show', () => win.show());
  win.on('close', () => {
    try {
      fs.writeFileSync(stateFile(), JSON.stringify(win.getBounds()));
    } catch {
      // losing the window position is not worth failing a quit over
    }
  });

  ipcMain.handle(IPC_INVOKE, (e, name, payload) => handleInvoke(e.senderFrame?.url, appIndexUrl, name, payload, api.invoke));
  ipcMain.handle(IPC_DIALOG, async (e, raw) => {
    if (!isTrustedUrl(e.senderFrame?.url ?? '', appIndexUrl)) return null;
    const req = DialogRequestSchema.safeParse(raw);
    if (!req.success) return null;
    switch (req.data.kind) {
      case 'openModel': {
        const r = await dialog.showOpenDialog(win, {
          title: 'Open a model',
          properties: ['openFile', 'openDirectory'],
          filters: [{ name: 'Models', extensions: ['json', 'h5', 'keras'] }],
        });
        return r.canceled ? null : r.filePaths[0];
      }
      case 'openDataset': {
        const r = await dialog.showOpenDialog(win, { title: 'Open a dataset', properties: ['openFile', 'openDirectory'] });
        return r.canceled ? null : r.filePaths[0];
      }
      case 'chooseFolder': {
        const r = await dialog.showOpenDialog(win, { title: 'Choose a folder', properties: ['openDirectory', 'createDirectory'] });
        return r.canceled ? null : r.filePaths[0];
      }
      case 'revealPath':
        if (req.data.path) shell.showItemInFolder(req.data.path);
        return null;
    }
  });
  api.subscribe((name, payload) => {
    if (!win.isDestroyed()) win.webContents.send(IPC_EVENT, name, payload);
  });

  Menu.setApplicationMenu(
    Menu.buildFromTemplate([
      ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
      { role: 'fileMenu' },
      { role: 'editMenu' },
      { role: 'viewMenu' },
      { role: 'windowMenu' },
    ]),
  );
  await win.loadURL(appIndexUrl);
  // The GPU window, when the training backend is not cpu (read at start: a changed setting applies
  // after a restart). Hidden, it must not keep the app alive: it closes with the main window.
  const gpuUrl = gpuWindowUrl(APP_ORIGIN, settings.windowBackend(), gpuToken);
  const gpuWin = gpuUrl ? new BrowserWindow(gpuWindowOptions()) : undefined;
  if (gpuWin && gpuUrl) {
    win.on('closed', () => {
      if (!gpuWin.isDestroyed()) gpuWin.close();
    });
    gpuWin.loadURL(gpuUrl).catch((err: unknown) => console.error('the GPU window did not load:', err));
  }
  app.on('window-all-closed', () => {
    gpuPeers.close();
    void api.close().finally(() => app.quit());
  });
}

void start();
