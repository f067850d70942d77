// New Experiment: scaffold a *.embedding.json from a data folder (loss, start, backbone, name).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { nameFromFile, scaffoldConfig, validateConfig } from '../../core/config';
import { backboneOfHubId, backbonePicks, type BackboneName } from '../../core/backbones';
import type { LossType } from '../../protocol/events';
import { UserError, type CommandFn } from '../ctx';
import { isObj, must, opts, pathArg, workspaceRoot } from './args';

export interface NewExperimentArgs {
  type: LossType;
  dataFolder: string;
  backbone?: BackboneName;
  /** Start from pretrained weights: a hub id (hf:owner/repo) or a .safetensors file; '' = from scratch. */
  pretrained?: string;
  file?: string;
  name?: string;
  validation?: string;
  overwrite?: boolean;
}

/** New Experiment's "where to start" step: from scratch, a hub id typed in, or a weights file picked. */
export async function pickStart(): Promise<string> {
  const start = must(await vscode.window.showQuickPick([
    { label: 'From scratch', description: 'random initial weights; fine with many images per class', start: 'scratch' as const },
    { label: 'Pretrained: Hugging Face hub…', description: 'e.g. hf:timm/resnet18.a1_in1k (downloaded once into the hub cache)', start: 'hub' as const },
    { label: 'Pretrained: a weights file…', description: 'a PyTorch ResNet state dict (.safetensors, torchvision or timm naming)', start: 'file' as const },
  ], { title: 'New Experiment: start from' }));
  if (start.start === 'scratch') return '';
  if (start.start === 'hub') {
    return must(await vscode.window.showInputBox({
      title: 'New Experiment: pretrained model on the Hugging Face hub', value: 'hf:timm/resnet18.a1_in1k',
      validateInput: (v) => (/^hf:[^/\s]+\/[^/\s]+$/.test(v) ? undefined : 'hf:<owner>/<repo>, e.g. hf:timm/resnet50.a1_in1k'),
    }));
  }
  const picked = await vscode.window.showOpenDialog({
    title: 'New Experiment: pretrained weights', canSelectFiles: true, canSelectFolders: false, canSelectMany: false,
    filters: { 'safetensors state dict': ['safetensors'] }, openLabel: 'Start From These Weights',
  });
  return must(picked?.[0]).fsPath;
}

/** `<data>/train` + `<data>/validation|val` when the folder is split that way, else the folder itself. */
export function splitDataFolder(dataFolder: string): { train: string; validation?: string } {
  const sub = (n: string) => fs.existsSync(path.join(dataFolder, n)) && fs.statSync(path.join(dataFolder, n)).isDirectory();
  if (sub('train')) {
    const val = ['validation', 'val', 'valid'].find(sub);
    return { train: path.join(dataFolder, 'train'), validation: val ? path.join(dataFolder, val) : undefined };
  }
  return { train: dataFolder };
}

export const newExperiment: CommandFn = async (ctx, a0) => {
  const o = opts<NewExperimentArgs>(a0);
  const interactive = !isObj(a0);
  const type = o.type ?? must(await vscode.window.showQuickPick([
    { label: 'triplet', description: 'anchor, positive, negative; semi-hard online mining (P×K batches)', type: 'triplet' as const },
    { label: 'contrastive', description: 'similar / dissimilar pairs with a margin', type: 'contrastive' as const },
    { label: 'quartet', description: 'two negatives and two margins (Chen et al., 2017)', type: 'quartet' as const },
  ], { title: 'New Experiment: loss' }))?.type;
  if (!['triplet', 'contrastive', 'quartet'].includes(type)) throw new UserError(`type must be triplet, contrastive or quartet (got ${JSON.stringify(type)})`);
  let dataFolder = o.dataFolder ? pathArg(o.dataFolder) : undefined;
  if (!dataFolder) {
    const picked = await vscode.window.showOpenDialog({
      title: 'New Experiment: images (one subfolder per class, or train/ and validation/ subfolders)', canSelectFolders: true, canSelectFiles: false,
      canSelectMany: false, defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri, openLabel: 'Use These Images',
    });
    dataFolder = must(picked?.[0]).fsPath;
  }
  if (!fs.existsSync(dataFolder) || !fs.statSync(dataFolder).isDirectory()) throw new UserError(`data folder does not exist: ${dataFolder}`);
  const pretrained = o.pretrained ?? (interactive ? await pickStart() : '');
  const hubArch = backboneOfHubId(pretrained);
  const backbones = backbonePicks(Boolean(pretrained)).map(({ name, summary }) => ({ label: name, description: summary, b: name }));
  const backbone = o.backbone ?? hubArch ?? must(await vscode.window.showQuickPick(backbones, { title: pretrained ? 'New Experiment: the architecture of the pretrained weights' : 'New Experiment: backbone' }))?.b;
  let file = o.file ? pathArg(o.file) : undefined;
  if (!file) {
    const dir = workspaceRoot() ?? path.dirname(dataFolder);
    const base = o.name ?? `${path.basename(dataFolder)}-${type}`.replace(/[^A-Za-z0-9._-]+/g, '-');
    let n = 1;
    let cand = path.join(dir, `${base}.embedding.json`);
    while (fs.existsSync(cand)) cand = path.join(dir, `${base}-${++n}.embedding.json`);
    file = cand;
    if (interactive) {
      const name = await vscode.window.showInputBox({
        title: 'New Experiment: name', value: path.basename(cand).replace(/\.embedding\.json$/, ''),
        validateInput: (v) => (/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v) ? (fs.existsSync(path.join(dir, `${v}.embedding.json`)) ? `${v}.embedding.json already exists` : undefined) : "letters, digits, '.', '_' or '-', starting with a letter or digit"),
      });
      file = path.join(dir, `${must(name)}.embedding.json`);
    }
  }
  if (!file.endsWith('.embedding.json')) file += file.endsWith('.json') ? '' : '.embedding.json';
  if (!file.endsWith('.embedding.json')) throw new UserError(`the config file name must end in .embedding.json (got ${file})`);
  if (fs.existsSync(file) && !o.overwrite) throw new UserError(`${file} already exists (pass overwrite: true to replace it)`);
  const configDir = path.dirname(file);
  const split = o.validation ? { train: dataFolder, validation: pathArg(o.validation) } : splitDataFolder(dataFolder);
  const rel = (p: string) => {
    const r = path.relative(configDir, p).split(path.sep).join('/');
    return r === '' ? '.' : r.startsWith('.') || path.isAbsolute(r) ? r : `./${r}`;
  };
  const obj = scaffoldConfig(type, {
    // No "$schema": VS Code validates *.embedding.json through the extension's jsonValidation contribution, and a
    // path into the install folder (its name holds the version) would break on the next update and elsewhere.
    name: o.name ?? nameFromFile(file), train: rel(split.train), validation: split.validation ? rel(split.validation) : undefined, backbone,
    ...(pretrained ? { pretrained: pretrained.startsWith('hf:') ? pretrained : rel(path.resolve(pretrained)) } : {}),
  });
  const { issues } = validateConfig(obj, configDir, { defaultName: nameFromFile(file) });
  if (issues.length) throw new UserError(`the new config would not be valid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  fs.mkdirSync(configDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(obj, null, 2) + '\n');
  ctx.log.info(`wrote ${file}`);
  ctx.experiments.refresh();
  const uri = vscode.Uri.file(file);
  if (interactive) await vscode.window.showTextDocument(uri);
  return uri;
};
