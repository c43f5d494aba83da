import { Command, Option } from 'commander';
import { backendChoices } from '../core/backend/select-backend.js';
import { registerFinetuneCommands } from './commands/finetune-command.js';
import { registerHostCommand } from './commands/host-command.js';
import { registerModelCommands } from './commands/model-commands.js';
import { registerPhotoCommands } from './commands/photo-commands.js';
import { commandRunner } from './run-command.js';

const program = new Command()
  .name('mien')
  .description('Mien: change facial expressions in photos. Every job of the desktop app, headless.')
  .addOption(new Option('--backend <name>', 'compute backend').choices(['auto', ...backendChoices]).default(undefined))
  .option('--json', 'print one JSON object on stdout; progress goes to stderr as JSON lines', false)
  .showHelpAfterError();

const run = commandRunner(() => program.opts<{ json: boolean; backend?: string }>());
registerModelCommands(program, run);
registerPhotoCommands(program, run);
registerHostCommand(program, run);
registerFinetuneCommands(program, run);

await program.parseAsync(process.argv);
