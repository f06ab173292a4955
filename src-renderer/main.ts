import { mount } from 'svelte';
import App from './App.svelte';
import { connectGpuPeer } from './lib/gpu-peer';
import { webToken } from './lib/transport';
import './app.css';

mount(App, { target: document.getElementById('app')! });
if (webToken) void connectGpuPeer(webToken);
