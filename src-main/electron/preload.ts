/**
 * The preload exposes one named API object to the sandboxed renderer, never ipcRenderer itself.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { IPC_DIALOG, IPC_EVENT, IPC_INVOKE, type DialogRequest } from '../common/contract';

const api = {
  invoke: (name: string, payload: unknown) => ipcRenderer.invoke(IPC_INVOKE, name, payload),
  dialog: (request: DialogRequest) => ipcRenderer.invoke(IPC_DIALOG, request),
  on: (listener: (name: string, payload: unknown) => void) => {
    const wrapped = (_e: unknown, name: string, payload: unknown) => listener(name, payload);
    ipcRenderer.on(IPC_EVENT, wrapped);
    return () => ipcRenderer.removeListener(IPC_EVENT, wrapped);
  },
};

contextBridge.exposeInMainWorld('topiary', api);
